/* placeholder until the pipeline module lands */
#include "config.h"
#include "pipeline/pipeline.h"
int dtp_pipeline_placeholder(void);
int dtp_pipeline_placeholder(void) { return 0; }

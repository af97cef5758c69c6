#ifndef DTP_PIPELINE_H
#define DTP_PIPELINE_H
#endif

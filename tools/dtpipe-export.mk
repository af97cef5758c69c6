# dtpipe-export: a checkpoint's model (or one batch's logits) as one safetensors file
bin_PROGRAMS += tools/dtpipe-export
tools_dtpipe_export_SOURCES = tools/dtpipe-export.c
tools_dtpipe_export_LDADD = $(DTP_ALL_LIBS)

noinst_LIBRARIES += src/pipeline/libdtp_pipeline.a
src_pipeline_libdtp_pipeline_a_SOURCES = \
	src/pipeline/pipeline.h \
	src/pipeline/schedule.c src/pipeline/schedule_zb.c src/pipeline/schedule_interleaved.c \
	src/pipeline/choose.c src/pipeline/choose_interleaved.c \
	src/pipeline/simulate.c \
	src/pipeline/stage.h \
	src/pipeline/setup.c src/pipeline/arena.c src/pipeline/link_mem.c \
	src/pipeline/datacheck.c \
	src/pipeline/nonfinite.c \
	src/pipeline/executor.c src/pipeline/transfer.c \
	src/pipeline/evaluate.c \
	src/pipeline/liveness.c \
	src/pipeline/ctrl.h src/pipeline/ctrl.c \
	src/pipeline/ckpt_run.h src/pipeline/ckpt_run.c src/pipeline/ckpt_bg.c \
	src/pipeline/ckpt_store.h src/pipeline/ckpt_store.c src/pipeline/ckpt_load.c \
	src/pipeline/ckpt_export.c src/pipeline/ckpt_bench.c \
	src/pipeline/report.h src/pipeline/report.c \
	src/pipeline/trace.c src/pipeline/trace_read.c \
	src/pipeline/run.c src/pipeline/run_interleaved.c

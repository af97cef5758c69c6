# tests/fuzz: one libFuzzer target per parser of untrusted bytes (fuzz_<name>.c
# defines LLVMFuzzerTestOneInput). Seeds in tests/fuzz/corpus/<name>/, inputs
# that once failed in tests/fuzz/regress/<name>/.
#  - normal build: each target is linked with replay.c and is a unit test that
#    runs every seed and every past failure through the target (so `make
#    check`, and the ASan+UBSan tree, replay them);
#  - configure --enable-fuzzing CC=clang-14: the same targets linked with
#    libFuzzer; `make fuzz` runs each for FUZZ_SECONDS (tests/fuzz/run.sh),
#    scripts/fuzz.sh builds that tree (build-fuzz/) and runs them.
FUZZ_TARGETS = plan spec shard_rec shard_tok index hello frame safetensors checkpoint
FUZZ_PROGS = tests/fuzz/fuzz_plan tests/fuzz/fuzz_spec tests/fuzz/fuzz_shard_rec \
	tests/fuzz/fuzz_shard_tok tests/fuzz/fuzz_index \
	tests/fuzz/fuzz_hello tests/fuzz/fuzz_frame tests/fuzz/fuzz_safetensors \
	tests/fuzz/fuzz_checkpoint
if DTP_HAVE_VERBS
FUZZ_TARGETS += verbs
FUZZ_PROGS += tests/fuzz/fuzz_verbs
endif
FUZZ_SECONDS = 60

if DTP_FUZZING
noinst_PROGRAMS += $(FUZZ_PROGS)
FUZZ_MAIN =
FUZZ_LINK = -fsanitize=fuzzer
fuzz: $(FUZZ_PROGS)
	$(SHELL) $(top_srcdir)/tests/fuzz/run.sh '$(abs_top_builddir)' '$(abs_top_srcdir)' \
		'$(FUZZ_SECONDS)' $(FUZZ_TARGETS)
else
check_PROGRAMS += $(FUZZ_PROGS)
UNIT_TESTS += $(FUZZ_PROGS)
FUZZ_MAIN = tests/fuzz/replay.c
FUZZ_LINK =
fuzz:
	@echo "make fuzz: this tree is not configured for fuzzing; use scripts/fuzz.sh," \
		"or configure --enable-fuzzing CC=clang-14 in another directory" >&2; exit 1
endif
.PHONY: fuzz

# writes the seeds of the binary targets (run by hand, see mkseeds.c)
check_PROGRAMS += tests/fuzz/mkseeds
tests_fuzz_mkseeds_SOURCES = tests/fuzz/mkseeds.c tests/fuzz/fuzz.h tests/fuzz/fuzz_ckpt.h tests/fuzz/fuzz_util.c
tests_fuzz_mkseeds_LDADD = $(DTP_ALL_LIBS)

FUZZ_COMMON = tests/fuzz/fuzz.h tests/fuzz/fuzz_util.c $(FUZZ_MAIN)
FUZZ_LIBS = $(DTP_ALL_LIBS)
FUZZ_LINKFLAGS = $(AM_LDFLAGS) $(FUZZ_LINK)
tests_fuzz_fuzz_plan_SOURCES = tests/fuzz/fuzz_plan.c $(FUZZ_COMMON)
tests_fuzz_fuzz_plan_LDADD = $(FUZZ_LIBS)
tests_fuzz_fuzz_plan_LDFLAGS = $(FUZZ_LINKFLAGS)
tests_fuzz_fuzz_spec_SOURCES = tests/fuzz/fuzz_spec.c $(FUZZ_COMMON)
tests_fuzz_fuzz_spec_LDADD = $(FUZZ_LIBS)
tests_fuzz_fuzz_spec_LDFLAGS = $(FUZZ_LINKFLAGS)
tests_fuzz_fuzz_shard_rec_SOURCES = tests/fuzz/fuzz_shard_rec.c tests/fuzz/fuzz_shard.h $(FUZZ_COMMON)
tests_fuzz_fuzz_shard_rec_LDADD = $(FUZZ_LIBS)
tests_fuzz_fuzz_shard_rec_LDFLAGS = $(FUZZ_LINKFLAGS)
tests_fuzz_fuzz_shard_tok_SOURCES = tests/fuzz/fuzz_shard_tok.c tests/fuzz/fuzz_shard.h $(FUZZ_COMMON)
tests_fuzz_fuzz_shard_tok_LDADD = $(FUZZ_LIBS)
tests_fuzz_fuzz_shard_tok_LDFLAGS = $(FUZZ_LINKFLAGS)
tests_fuzz_fuzz_index_SOURCES = tests/fuzz/fuzz_index.c $(FUZZ_COMMON)
tests_fuzz_fuzz_index_LDADD = $(FUZZ_LIBS)
tests_fuzz_fuzz_index_LDFLAGS = $(FUZZ_LINKFLAGS)
tests_fuzz_fuzz_hello_SOURCES = tests/fuzz/fuzz_hello.c $(FUZZ_COMMON)
tests_fuzz_fuzz_hello_LDADD = $(FUZZ_LIBS)
tests_fuzz_fuzz_hello_LDFLAGS = $(FUZZ_LINKFLAGS)
tests_fuzz_fuzz_frame_SOURCES = tests/fuzz/fuzz_frame.c $(FUZZ_COMMON)
tests_fuzz_fuzz_frame_LDADD = $(FUZZ_LIBS)
tests_fuzz_fuzz_frame_LDFLAGS = $(FUZZ_LINKFLAGS)
tests_fuzz_fuzz_safetensors_SOURCES = tests/fuzz/fuzz_safetensors.c $(FUZZ_COMMON)
tests_fuzz_fuzz_safetensors_LDADD = $(FUZZ_LIBS)
tests_fuzz_fuzz_safetensors_LDFLAGS = $(FUZZ_LINKFLAGS)
tests_fuzz_fuzz_checkpoint_SOURCES = tests/fuzz/fuzz_checkpoint.c tests/fuzz/fuzz_ckpt.h $(FUZZ_COMMON)
tests_fuzz_fuzz_checkpoint_LDADD = $(FUZZ_LIBS)
tests_fuzz_fuzz_checkpoint_LDFLAGS = $(FUZZ_LINKFLAGS)
tests_fuzz_fuzz_verbs_SOURCES = tests/fuzz/fuzz_verbs.c $(FUZZ_COMMON)
tests_fuzz_fuzz_verbs_LDADD = $(FUZZ_LIBS)
tests_fuzz_fuzz_verbs_LDFLAGS = $(FUZZ_LINKFLAGS)

EXTRA_DIST += tests/fuzz/run.sh tests/fuzz/corpus tests/fuzz/regress tests/fuzz/dict

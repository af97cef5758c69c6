# tests for model
UNIT_TESTS += tests/model/test_model_grad tests/model/test_model_core
check_PROGRAMS += tests/model/test_model_grad tests/model/test_model_core
tests_model_test_model_grad_SOURCES = tests/model/test_model_grad.c
tests_model_test_model_grad_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_model_test_model_grad_LDADD = $(CMOCKA_TEST_LIBS)
tests_model_test_model_core_SOURCES = tests/model/test_model_core.c
tests_model_test_model_core_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_model_test_model_core_LDADD = $(CMOCKA_TEST_LIBS)
UNIT_TESTS += tests/model/test_model_vec
check_PROGRAMS += tests/model/test_model_vec
tests_model_test_model_vec_SOURCES = tests/model/test_model_vec.c
tests_model_test_model_vec_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_model_test_model_vec_LDADD = $(CMOCKA_TEST_LIBS)

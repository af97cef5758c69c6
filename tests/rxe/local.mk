# the Soft-RoCE VM harness (tests/rxe)

# verbs tests: CMocka fakes of the verbs state machine, and the Soft-RoCE VM runs

# tests for partition

# tests for pipeline

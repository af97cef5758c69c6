# tests for rdma

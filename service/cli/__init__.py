"""The `sales-analyzer` command."""

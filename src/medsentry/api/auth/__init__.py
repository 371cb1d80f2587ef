"""Access control: users, roles, passwords, API tokens, web sessions, throttling, audit."""

"""What the tests share besides fixtures: registries, clients, backends, servers, workflow steps,
the production cluster and policy files. Fixtures stay in the `conftest.py` files."""

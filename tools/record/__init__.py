"""Record the demo capture and the test fixtures with real software in network namespaces."""

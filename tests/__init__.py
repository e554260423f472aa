"""The test suite is a package, so that tests import their helpers as ``tests.helpers``."""

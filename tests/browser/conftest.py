"""Browser fixtures (browser, page, wallet) live in tests/conftest.py so every folder shares one Playwright."""

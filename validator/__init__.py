"""The iDAO validator node: a plain HTTP client of any iDAO Portal.

It signs in (SIWE with its own key, or a bearer API token), polls its assignments, downloads
each file with its credential, re-hashes it, runs its checks (validator.checks), signs an
EIP-712 verdict with the typed data the portal publishes and submits verdicts in batches.
Nothing here imports Django or any app of the portal: run it anywhere with `python -m validator`."""

__version__ = "1.0"

"""Every write of idaos, one module per aggregate: idaos (forming an iDAO), membership, assets
(models and agents), proposals (the lifecycle), ballots (signed votes) and actions (what a passed
proposal does). Import the module you need, e.g. `from idaos.services import proposals`."""

"""Every write of rewards, one module per aggregate: metering (usage reports and their fees),
epochs (the open epoch and the close that pays) and credits (steward grants of CREDIT). Import
the module you need, e.g. `from rewards.services import epochs`."""

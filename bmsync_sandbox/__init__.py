"""Everything that runs bmsync on one machine, with no AWS account and no Docker."""

"""Framework adapters behind one contract (see base.py); the registry lists them."""

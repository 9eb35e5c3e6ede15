"""Kommune ideas: change agents' forum, idea store, decisions, innovation circles, chronicle."""

"""One module per action type, each defining ACTION_TYPE."""

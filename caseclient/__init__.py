"""The client's side of the case's contract, shared by the command line and the desk."""

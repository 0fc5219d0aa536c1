"""The local system as a new user meets it: a simulated instrument and the demo runner."""

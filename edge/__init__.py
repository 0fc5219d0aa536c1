"""The Raspberry Pi daemon beside an instrument: watch, spool, compress, sync, quick check."""

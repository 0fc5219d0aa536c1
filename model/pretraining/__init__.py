"""Self-supervised pre-training of a backbone on unlabelled structures (`kozo model pretrain`)."""

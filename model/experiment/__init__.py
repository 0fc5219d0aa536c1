"""`kozo model experiment`: does pre-training or an imbalance-aware loss help on tails and rare values?"""

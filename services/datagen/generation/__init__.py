"""Documents → Q&A pairs: a teacher model writes them, a judge scores them, rules and
near-duplicate removal filter them, a split keeps train and evaluation apart."""

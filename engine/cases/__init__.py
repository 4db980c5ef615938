"""Grace cases: the pure lifecycle of a decision's notice, cure and appeal, and its store."""

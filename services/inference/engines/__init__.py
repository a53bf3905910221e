"""Generation engines behind one Protocol (`base.Engine`)."""

"""`/v1/datagen/jobs`: documents → a scored, de-duplicated Q&A dataset."""

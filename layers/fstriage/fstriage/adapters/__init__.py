"""The only modules that talk to AWS (boto3) or Fullstory (requests)."""

"""OpenAI's Batch API (`/v1/batches`): a file of requests answered by the gateway's own
services, as a job on the queue."""

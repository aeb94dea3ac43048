"""The local serverless runtime: what AWS would do around bmsync's functions, on one machine.

moto's server stands in for DynamoDB and Secrets Manager; :mod:`.streams` pumps the tables' streams
into the stream-triggered functions with Lambda's event-source semantics; :mod:`.scheduler` plays
EventBridge Scheduler; :mod:`.function_url` plays the admin's Function URL; :mod:`.invoker` loads and
calls the handlers like the Lambda runtime does. :mod:`.system` wires it all up for ``bmsync up``.
"""

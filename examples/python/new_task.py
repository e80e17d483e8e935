#!/usr/bin/env python3
"""Tutorial 2, "Work queues": sends one task (the arguments) to the durable queue 'task_queue'
as a persistent message. Each '.' in it is one unit of work."""
import os
import sys

import pika


def connection_parameters():
    """Where to connect: AMQP_HOST (default localhost) and AMQP_PORT (default 5672), as guest/guest."""
    return pika.ConnectionParameters(
        host=os.environ.get("AMQP_HOST") or "localhost",
        port=int(os.environ.get("AMQP_PORT") or 5672))


connection = pika.BlockingConnection(connection_parameters())
channel = connection.channel()

channel.queue_declare(queue="task_queue", durable=True)

message = " ".join(sys.argv[1:]) or "Hello World!"
channel.basic_publish(
    exchange="",
    routing_key="task_queue",
    body=message,
    properties=pika.BasicProperties(delivery_mode=2),  # persistent
)
print(f" [x] Sent '{message}'", flush=True)
connection.close()

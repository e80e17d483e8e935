#!/usr/bin/env python3
"""Tutorial 1, "Hello World!": sends one message to the queue 'hello'."""
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

channel.queue_declare(queue="hello")

message = " ".join(sys.argv[1:]) or "Hello World!"
channel.basic_publish(exchange="", routing_key="hello", body=message)
print(f" [x] Sent '{message}'", flush=True)
connection.close()

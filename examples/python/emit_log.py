#!/usr/bin/env python3
"""Tutorial 3, "Publish/Subscribe": broadcasts one log message on the fanout exchange 'logs'."""
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

channel.exchange_declare(exchange="logs", exchange_type="fanout")

message = " ".join(sys.argv[1:]) or "info: Hello World!"
channel.basic_publish(exchange="logs", routing_key="", body=message)
print(f" [x] Sent '{message}'", flush=True)
connection.close()

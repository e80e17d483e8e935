#!/usr/bin/env python3
"""Tutorial 5, "Topics": binds an exclusive, server-named queue to 'topic_logs' once per binding
key given ('*' matches exactly one word, '#' zero or more) and prints the matching log messages
until killed. Usage: receive_logs_topic.py [binding_key]..., e.g. "kern.*" "*.critical"
"""
import os
import sys

import pika


def connection_parameters():
    """Where to connect: AMQP_HOST (default localhost) and AMQP_PORT (default 5672), as guest/guest."""
    return pika.ConnectionParameters(
        host=os.environ.get("AMQP_HOST") or "localhost",
        port=int(os.environ.get("AMQP_PORT") or 5672))


def main():
    binding_keys = sys.argv[1:]
    if not binding_keys:
        sys.stderr.write(f"Usage: {sys.argv[0]} [binding_key]...\n")
        sys.exit(1)

    connection = pika.BlockingConnection(connection_parameters())
    channel = connection.channel()

    channel.exchange_declare(exchange="topic_logs", exchange_type="topic")

    result = channel.queue_declare(queue="", exclusive=True)
    queue_name = result.method.queue

    for binding_key in binding_keys:
        channel.queue_bind(exchange="topic_logs", queue=queue_name, routing_key=binding_key)

    def callback(ch, method, properties, body):
        print(f" [x] Received '{method.routing_key}':'{body.decode()}'", flush=True)

    channel.basic_consume(queue=queue_name, on_message_callback=callback, auto_ack=True)

    print(" [*] Waiting for logs. To exit press CTRL+C", flush=True)
    channel.start_consuming()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("Interrupted", flush=True)
        try:
            sys.exit(0)
        except SystemExit:
            os._exit(0)

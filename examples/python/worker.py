#!/usr/bin/env python3
"""Tutorial 2, "Work queues": takes tasks from 'task_queue' one at a time (prefetch 1, manual
acks), working one second per '.' in the task, or WARREN_EXAMPLE_DOT_MS milliseconds if set."""
import os
import sys
import time

import pika


def connection_parameters():
    """Where to connect: AMQP_HOST (default localhost) and AMQP_PORT (default 5672), as guest/guest."""
    return pika.ConnectionParameters(
        host=os.environ.get("AMQP_HOST") or "localhost",
        port=int(os.environ.get("AMQP_PORT") or 5672))


DOT_SECONDS = int(os.environ.get("WARREN_EXAMPLE_DOT_MS") or 1000) / 1000.0


def main():
    connection = pika.BlockingConnection(connection_parameters())
    channel = connection.channel()

    channel.queue_declare(queue="task_queue", durable=True)

    def callback(ch, method, properties, body):
        message = body.decode()
        print(f" [x] Received '{message}'", flush=True)
        time.sleep(message.count(".") * DOT_SECONDS)
        print(" [x] Done", flush=True)
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_qos(prefetch_count=1)
    channel.basic_consume(queue="task_queue", on_message_callback=callback)

    print(" [*] Waiting for messages. To exit press CTRL+C", flush=True)
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

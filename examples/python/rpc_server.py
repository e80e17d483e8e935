#!/usr/bin/env python3
"""Tutorial 6, "RPC": answers requests on 'rpc_queue' with fib(n), sent to the request's
reply_to queue with its correlation_id, until killed."""
import os
import sys

import pika


def connection_parameters():
    """Where to connect: AMQP_HOST (default localhost) and AMQP_PORT (default 5672), as guest/guest."""
    return pika.ConnectionParameters(
        host=os.environ.get("AMQP_HOST") or "localhost",
        port=int(os.environ.get("AMQP_PORT") or 5672))


def fib(n):
    if n == 0:
        return 0
    elif n == 1:
        return 1
    else:
        return fib(n - 1) + fib(n - 2)


def main():
    connection = pika.BlockingConnection(connection_parameters())
    channel = connection.channel()

    channel.queue_declare(queue="rpc_queue")

    def on_request(ch, method, props, body):
        n = int(body)

        print(f" [.] fib({n})", flush=True)
        response = fib(n)

        ch.basic_publish(exchange="",
                         routing_key=props.reply_to,
                         properties=pika.BasicProperties(correlation_id=props.correlation_id),
                         body=str(response))
        ch.basic_ack(delivery_tag=method.delivery_tag)

    channel.basic_qos(prefetch_count=1)
    channel.basic_consume(queue="rpc_queue", on_message_callback=on_request)

    print(" [x] Awaiting RPC requests", flush=True)
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

#!/usr/bin/env python3
"""Tutorial 6, "RPC": asks 'rpc_queue' for fib(n) and waits for the answer on an exclusive,
server-named callback queue, matched by correlation_id. Usage: rpc_client.py [n...] (default 30)."""
import os
import sys
import uuid

import pika


def connection_parameters():
    """Where to connect: AMQP_HOST (default localhost) and AMQP_PORT (default 5672), as guest/guest."""
    return pika.ConnectionParameters(
        host=os.environ.get("AMQP_HOST") or "localhost",
        port=int(os.environ.get("AMQP_PORT") or 5672))


class FibonacciRpcClient(object):

    def __init__(self):
        self.connection = pika.BlockingConnection(connection_parameters())
        self.channel = self.connection.channel()

        result = self.channel.queue_declare(queue="", exclusive=True)
        self.callback_queue = result.method.queue

        self.channel.basic_consume(
            queue=self.callback_queue,
            on_message_callback=self.on_response,
            auto_ack=True)

        self.response = None
        self.corr_id = None

    def on_response(self, ch, method, props, body):
        if self.corr_id == props.correlation_id:
            self.response = body

    def call(self, n):
        self.response = None
        self.corr_id = str(uuid.uuid4())
        self.channel.basic_publish(
            exchange="",
            routing_key="rpc_queue",
            properties=pika.BasicProperties(
                reply_to=self.callback_queue,
                correlation_id=self.corr_id,
            ),
            body=str(n))
        while self.response is None:
            self.connection.process_data_events(time_limit=None)
        return int(self.response)


fibonacci_rpc = FibonacciRpcClient()

for n in [int(arg) for arg in sys.argv[1:]] or [30]:
    print(f" [x] Requesting fib({n})", flush=True)
    response = fibonacci_rpc.call(n)
    print(f" [.] Got '{response}'", flush=True)

fibonacci_rpc.connection.close()

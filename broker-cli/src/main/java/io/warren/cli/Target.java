package io.warren.cli;

/** Where the management API is and who logs in; {@link #address()} names it in messages. */
record Target(String host, int port, String user, String password) {
    String address() {
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
    }

    String baseUri() {
        return "http://" + address();
    }
}

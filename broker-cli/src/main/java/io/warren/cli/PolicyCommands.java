package io.warren.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;

/**
 * rabbitmqctl's policy commands (set_policy, clear_policy, list_policies and their operator
 * policy twins), with rabbitmqctl 3.10's banners and exit codes (checked against it): 69 for a
 * refused policy (its "Validation failed" text, here on one line), a definition that is not JSON,
 * or a policy that does not exist; 65 for a vhost that does not exist; 64 for a bad option.
 * They call the management API's /api/policies and /api/operator-policies.
 */
final class PolicyCommands {
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private PolicyCommands() {
    }

    private static String path(boolean operator, String vhost, String name) {
        return "/api/" + (operator ? "operator-policies" : "policies") + "/" + Api.enc(vhost)
                + (name == null ? "" : "/" + Api.enc(name));
    }

    /** RabbitMQ's multi-line "Validation failed\n\nwhy\n" as one line. */
    static String oneLine(String reason) {
        return reason.strip().replaceAll("\\s*\\n\\s*\\n\\s*", ": ").replaceAll("\\s*\\n\\s*", " ");
    }

    abstract static class SetBase extends Commands.Base {
        @Parameters(index = "0", paramLabel = "<name>")
        String name;
        @Parameters(index = "1", paramLabel = "<pattern>")
        String pattern;
        @Parameters(index = "2", paramLabel = "<definition>")
        String definition;
        @Option(names = "--priority", description = "policy priority (an integer; the highest matching policy wins)")
        int priority;
        @Option(names = "--apply-to", paramLabel = "<queues | exchanges | all>",
                description = "what the policy applies to: queues, exchanges or all (the default)")
        String applyTo = "all";

        abstract boolean operator();

        @Override int exec(Ctx c) {
            c.out.banner("Setting " + (operator() ? "operator policy override" : "policy") + " \"" + name
                    + "\" for pattern \"" + pattern + "\" to \"" + definition + "\" with priority \"" + priority
                    + "\" for vhost \"" + c.vhost + "\" ...");
            JsonNode def;
            try {
                def = Api.JSON.readTree(definition);
            } catch (IOException e) {
                throw new CliException(ExitCodes.UNAVAILABLE, "Error: JSON decoding error. Reason: badarg");
            }
            if (def == null || !def.isObject()) {
                throw new CliException(ExitCodes.UNAVAILABLE,
                        "Error: Validation failed: the definition must be a JSON object");
            }
            ObjectNode body = NODES.objectNode();
            body.put("pattern", pattern);
            body.set("definition", def);
            body.put("priority", priority);
            body.put("apply-to", applyTo);
            Api.Response r = c.api().send("PUT", path(operator(), c.vhost, name), body, Map.of());
            if (r.status() == 404) {
                throw new CliException(ExitCodes.DATAERR, "Error: Virtual host '" + c.vhost + "' does not exist");
            }
            if (r.status() == 400) {
                throw new CliException(ExitCodes.UNAVAILABLE, "Error: " + oneLine(r.reason()));
            }
            if (r.status() != 201 && r.status() != 204) {
                throw new CliException(ExitCodes.SOFTWARE, "Error: " + r.reason());
            }
            return ExitCodes.OK;
        }
    }

    abstract static class ClearBase extends Commands.Base {
        @Parameters(index = "0", paramLabel = "<name>")
        String name;

        abstract boolean operator();

        @Override int exec(Ctx c) {
            c.out.banner("Clearing " + (operator() ? "operator policy" : "policy") + " \"" + name + "\" on vhost \""
                    + c.vhost + "\" ...");
            Api.Response r = c.api().send("DELETE", path(operator(), c.vhost, name), null, Map.of());
            if (r.status() == 404) {
                // rabbitmqctl 3.10 says this for a missing policy and for a missing vhost alike.
                throw new CliException(ExitCodes.UNAVAILABLE, "Error: Parameter does not exist");
            }
            if (r.status() != 204) {
                throw new CliException(ExitCodes.SOFTWARE, "Error: " + r.reason());
            }
            return ExitCodes.OK;
        }
    }

    abstract static class ListBase extends Commands.Listing {
        abstract boolean operator();

        @Override Map<String, Function<JsonNode, JsonNode>> known() {
            Map<String, Function<JsonNode, JsonNode>> m = new LinkedHashMap<>();
            m.put("vhost", n -> n.path("vhost"));
            m.put("name", n -> n.path("name"));
            m.put("pattern", n -> n.path("pattern"));
            m.put("apply-to", n -> n.path("apply-to"));
            // rabbitmqctl shows the definition as compact JSON, keys sorted (in --formatter json too, as a string).
            m.put("definition", n -> NODES.textNode(sortedJson(n.path("definition"))));
            m.put("priority", n -> n.path("priority"));
            return m;
        }

        @Override List<String> defaults() {
            return List.of("vhost", "name", "pattern", "apply-to", "definition", "priority");
        }

        @Override String banner(Ctx c) {
            return "Listing " + (operator() ? "operator policy overrides" : "policies") + " for vhost \"" + c.vhost
                    + "\" ...";
        }

        @Override String path(Ctx c) {
            return PolicyCommands.path(operator(), c.vhost, null);
        }
    }

    static String sortedJson(JsonNode n) {
        try {
            Object v = Api.JSON.treeToValue(n, Object.class);
            return Api.JSON.writeValueAsString(sorted(v));
        } catch (IOException e) {
            return n.toString();
        }
    }

    private static Object sorted(Object v) {
        if (v instanceof Map<?, ?> m) {
            Map<String, Object> t = new TreeMap<>();
            m.forEach((k, x) -> t.put(String.valueOf(k), sorted(x)));
            return t;
        }
        if (v instanceof List<?> l) {
            return l.stream().map(PolicyCommands::sorted).toList();
        }
        return v;
    }

    @Command(name = "set_policy", description = "Sets or updates a policy in a virtual host (-p): the highest "
            + "priority policy whose pattern matches a queue's or exchange's name applies to it.")
    static final class SetPolicy extends SetBase {
        @Override boolean operator() {
            return false;
        }
    }

    @Command(name = "set_operator_policy", description = "Sets an operator policy that overrides a subset of "
            + "arguments in user policies (expires, message-ttl, max-length, max-length-bytes, delivery-limit): "
            + "where both set one, the smaller value wins.")
    static final class SetOperatorPolicy extends SetBase {
        @Override boolean operator() {
            return true;
        }
    }

    @Command(name = "clear_policy", description = "Clears a policy in a virtual host (-p).")
    static final class ClearPolicy extends ClearBase {
        @Override boolean operator() {
            return false;
        }
    }

    @Command(name = "clear_operator_policy", description = "Clears an operator policy in a virtual host (-p).")
    static final class ClearOperatorPolicy extends ClearBase {
        @Override boolean operator() {
            return true;
        }
    }

    @Command(name = "list_policies", description = "Lists the policies of a virtual host (-p).")
    static final class ListPolicies extends ListBase {
        @Override boolean operator() {
            return false;
        }
    }

    @Command(name = "list_operator_policies", description = "Lists the operator policies of a virtual host (-p).")
    static final class ListOperatorPolicies extends ListBase {
        @Override boolean operator() {
            return true;
        }
    }
}

package io.warren.server.management;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.warren.server.WarrenConfig;
import io.warren.server.config.ConfigParser;
import io.warren.server.flow.Watermark;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * warren's own endpoints under {@code /api/warren/}, for what rabbitmqctl does over Erlang
 * distribution and RabbitMQ's management API has no path for: {@code warrenctl environment}
 * (the effective configuration, passwords masked) and {@code warrenctl
 * set_vm_memory_high_watermark} (administrators only, as the command needs RabbitMQ's admin rights).
 */
final class WarrenEndpoints {
    static final String MASK = "********";
    private final ApiContext ctx;

    WarrenEndpoints(ApiContext ctx) {
        this.ctx = ctx;
    }

    /** The effective configuration under warren.conf's key names; secrets masked. */
    ApiResponse environment(ApiRequest r) {
        WarrenConfig c = ctx.config;
        if (c == null) {
            throw ApiException.notFound();
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("listeners.tcp.default", (c.listenHost() == null ? "" : c.listenHost() + ":") + c.listenPort());
        m.put("management.enabled", c.managementPort() != WarrenConfig.MANAGEMENT_DISABLED);
        m.put("management.tcp.ip", c.managementIp());
        m.put("management.tcp.port", c.managementPort());
        m.put("default_user", c.defaultUser());
        m.put("default_pass", MASK);
        m.put("default_vhost", c.defaultVhost());
        m.put("loopback_users", c.loopbackUsers());
        m.put("auth_mechanisms", c.auth().mechanisms());
        m.put("ssl_cert_login_from", c.auth().certLoginFrom());
        m.put("heartbeat", c.heartbeatSeconds());
        m.put("frame_max", c.frameMax());
        m.put("channel_max", c.channelMax());
        m.put("max_message_size", c.maxMessageSize());
        m.put("connection_max", c.connectionMax() == Integer.MAX_VALUE ? "infinity" : c.connectionMax());
        m.put("tcp_listen_options.send_timeout", c.sendTimeoutMs());
        // The watermark in force: set_vm_memory_high_watermark changes it at run time.
        putWatermark(m, "vm_memory_high_watermark", ctx.monitor.memory().watermark());
        m.put("vm_memory_high_watermark_paging_ratio", c.memoryPagingRatio());
        putWatermark(m, "disk_free_limit", c.diskFreeLimit());
        m.put("data_dir", String.valueOf(c.dataDir()));
        m.put("log.file", c.logFile() == null ? false : c.logFile().toString());
        m.put("log.level", c.logLevel());
        WarrenConfig.TlsConfig t = c.tls();
        if (t != null) {
            m.put("listeners.ssl.default", (t.host() == null ? "" : t.host() + ":") + t.port());
            m.put("ssl_options.certfile", String.valueOf(t.certFile()));
            m.put("ssl_options.keyfile", String.valueOf(t.keyFile()));
            if (t.keyPassword() != null) {
                m.put("ssl_options.password", MASK);
            }
            if (t.caCertFile() != null) {
                m.put("ssl_options.cacertfile", t.caCertFile().toString());
            }
            m.put("ssl_options.verify", t.verifyPeer() ? "verify_peer" : "verify_none");
            m.put("ssl_options.fail_if_no_peer_cert", t.failIfNoPeerCert());
        }
        return ApiResponse.ok(m);
    }

    private static void putWatermark(Map<String, Object> m, String key, Watermark w) {
        if (w instanceof Watermark.Relative rel) {
            m.put(key + ".relative", rel.fraction());
        } else if (w instanceof Watermark.Absolute abs) {
            m.put(key + ".absolute", abs.limit());
        }
    }

    /** GET: the watermark in force and the limit it gives, in bytes. */
    ApiResponse memoryWatermark(ApiRequest r) {
        return ApiResponse.ok(watermarkView());
    }

    private Map<String, Object> watermarkView() {
        Map<String, Object> m = new LinkedHashMap<>();
        Watermark w = ctx.monitor.memory().watermark();
        if (w instanceof Watermark.Relative rel) {
            m.put("relative", rel.fraction());
        } else if (w instanceof Watermark.Absolute abs) {
            m.put("absolute", abs.limit());
        }
        m.put("limit", ctx.monitor.memory().limit());
        return m;
    }

    /**
     * PUT {@code {"relative": 0.4}} or {@code {"absolute": "512MB"}} (or a number of bytes): the
     * new memory high watermark, in force at once (alarm set or cleared). Administrators only.
     * A fraction is 0.0..1.0 as rabbitmqctl checks it (and as the config key takes it).
     */
    ApiResponse setMemoryWatermark(ApiRequest r) {
        if (!ctx.broker.access().tags(r.user()).contains("administrator")) {
            throw new ApiException(401, "not_authorised", "Not administrator user");
        }
        ObjectNode body = Json.object(r.body());
        JsonNode rel = body.get("relative");
        JsonNode abs = body.get("absolute");
        if ((rel == null) == (abs == null)) {
            throw ApiException.badRequest("expected one of the fields 'relative' or 'absolute'");
        }
        Watermark w;
        if (rel != null) {
            if (!rel.isNumber() || !(rel.asDouble() >= 0.0 && rel.asDouble() <= 1.0)) {
                throw ApiException.badRequest("relative: expected a number 0.0..1.0");
            }
            w = new Watermark.Relative(rel.asDouble());
        } else if (abs.isIntegralNumber() && abs.canConvertToLong() && abs.asLong() >= 0) {
            w = new Watermark.Absolute(abs.asLong());
        } else if (abs.isTextual()) {
            try {
                w = new Watermark.Absolute(ConfigParser.bytes(abs.asText()));
            } catch (IllegalArgumentException e) {
                throw ApiException.badRequest("absolute: " + e.getMessage());
            }
        } else {
            throw ApiException.badRequest("absolute: expected bytes, or a string such as \"512MB\"");
        }
        ctx.memoryWatermark.accept(w);
        return ApiResponse.ok(watermarkView());
    }

    /**
     * PUT / DELETE /api/warren/alarms/{resource} ({@code memory} or {@code disk}): sets or clears
     * an alarm by hand, as rabbitmqctl's {@code eval 'rabbit_alarm:set_alarm(...)'} does (RabbitMQ's
     * client test suites block publishers this way). The alarm holds until cleared by hand, whatever
     * the monitor measures. Administrators only.
     */
    ApiResponse setAlarm(ApiRequest r, boolean on) {
        if (!ctx.broker.access().tags(r.user()).contains("administrator")) {
            throw new ApiException(401, "not_authorised", "Not administrator user");
        }
        io.warren.core.flow.ResourceAlarms.Resource res = switch (r.param("resource")) {
            case "memory" -> io.warren.core.flow.ResourceAlarms.Resource.MEMORY;
            case "disk" -> io.warren.core.flow.ResourceAlarms.Resource.DISK;
            default -> throw ApiException.notFound();
        };
        ctx.monitor.alarms().setByOperator(res, on);
        return ApiResponse.status(204);
    }
}

package io.warren.it.management;

import com.fasterxml.jackson.databind.JsonNode;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import io.warren.it.support.WarrenBroker;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.Select;
import org.openqa.selenium.support.ui.WebDriverWait;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.Logger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The web console in a real browser (Debian's chromium, headless, through its chromedriver):
 * the login form and its refusals, then what an operator does — see the overview, declare a
 * queue, publish to it through the default exchange, watch its ready count change, get the
 * message and read its payload, purge and delete it, close a connection — each checked against
 * the broker through the API or an AMQP client, not only on the page. One broker and one
 * browser for the class; screenshots of every page go to target/console-screenshots/.
 *
 * <p>Skipped (with the reason) only when chromium or chromedriver is not installed; .ci/run
 * installs both. Selenium is given both executables, so Selenium Manager never runs.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ConsoleBrowserTest {
    /** Debian's paths; -Dwarren.it.chromedriver / -Dwarren.it.chromium name others. */
    private static final Path CHROMEDRIVER = Path.of(System.getProperty("warren.it.chromedriver", "/usr/bin/chromedriver"));
    private static final Path CHROMIUM = Path.of(System.getProperty("warren.it.chromium", "/usr/bin/chromium"));
    private static final Duration WAIT = Duration.ofSeconds(15);

    @RegisterExtension
    static WarrenBroker broker = new WarrenBroker();

    private static WebDriver driver;
    private static ChromeDriverService service;
    private static Path screenshots;
    private static Path downloads;
    private Http admin;

    /** Why the tests skip (each one reports it), or null when the browser is there. */
    private static String missing;

    @BeforeAll
    static void browser() throws Exception {
        if (!Files.isExecutable(CHROMEDRIVER) || !Files.isExecutable(CHROMIUM)) {
            missing = "the console's browser tests need " + CHROMIUM + " and " + CHROMEDRIVER
                    + " (apt-get install chromium chromium-driver)";
            System.out.println("ConsoleBrowserTest SKIP: " + missing);
            return;
        }
        // Selenium must never look for (or download) a driver or browser of its own.
        System.setProperty("SE_OFFLINE", "true");
        Logger.getLogger("org.openqa.selenium").setLevel(Level.SEVERE);
        service = new ChromeDriverService.Builder().usingDriverExecutable(CHROMEDRIVER.toFile()).usingAnyFreePort().build();
        screenshots = Path.of(System.getProperty("basedir", "."), "target", "console-screenshots");
        Files.createDirectories(screenshots);
        downloads = Files.createTempDirectory("console-downloads");
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toFile());
        // Downloads (the definitions export) land in a temporary folder, never in a home folder.
        options.setExperimentalOption("prefs", java.util.Map.of("download.default_directory", downloads.toString(),
                "download.prompt_for_download", false));
        options.addArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1100", "--no-first-run", "--disable-extensions", "--lang=en-US");
        driver = new ChromeDriver(service, options);
        driver.manage().timeouts().scriptTimeout(WAIT);
    }

    @AfterAll
    static void closeBrowser() throws Exception {
        if (driver != null) {
            driver.quit();
        }
        if (service != null) {
            service.stop();
        }
        if (downloads != null) {
            try (var files = Files.list(downloads)) {
                for (Path p : files.toList()) {
                    Files.delete(p);
                }
            }
            Files.delete(downloads);
        }
    }

    @BeforeEach
    void freshSession() {
        Assumptions.assumeTrue(missing == null, () -> missing);
        admin = new Http("127.0.0.1", broker.broker().managementPort(), "guest", "guest");
        driver.get(base());
        // Let the page settle first: with saved credentials it is logging in, and a login that
        // answers after the clear below would save them again.
        waitFor(ExpectedConditions.or(ExpectedConditions.visibilityOfElementLocated(By.id("login-form")),
                ExpectedConditions.visibilityOfElementLocated(By.id("who"))));
        ((JavascriptExecutor) driver).executeScript("sessionStorage.clear()");
        driver.get(base());
        waitFor(ExpectedConditions.visibilityOfElementLocated(By.id("login-form")));
    }

    private String base() {
        return "http://127.0.0.1:" + broker.broker().managementPort() + "/";
    }

    private static <T> T waitFor(java.util.function.Function<? super WebDriver, T> condition) {
        // The pages redraw their data every 5 s: an element found just before a redraw goes stale.
        return new WebDriverWait(driver, WAIT, Duration.ofMillis(50))
                .ignoring(org.openqa.selenium.StaleElementReferenceException.class).until(condition);
    }

    private static WebElement el(String id) {
        return waitFor(ExpectedConditions.visibilityOfElementLocated(By.id(id)));
    }

    private static void textOf(String id, String expected) {
        waitFor(d -> {
            List<WebElement> e = d.findElements(By.id(id));
            return !e.isEmpty() && e.get(0).getText().contains(expected);
        });
    }

    private static void login(String user, String password) {
        el("login-user").clear();
        el("login-user").sendKeys(user);
        el("login-pass").clear();
        el("login-pass").sendKeys(password);
        el("login-submit").click();
    }

    private static void go(String hash) {
        ((JavascriptExecutor) driver).executeScript("location.hash = arguments[0]", hash);
    }

    private static void acceptConfirm() {
        waitFor(ExpectedConditions.alertIsPresent()).accept();
    }

    /** The big number of a tile (e.g. q-ready), as shown. */
    private static String tileValue(String id) {
        return el(id).findElement(By.className("value")).getText();
    }

    private static void screenshot(String name) throws Exception {
        // Let the page settle (fonts, the charts' first draw) before the picture.
        waitFor(d -> d.findElements(By.className("loading")).isEmpty());
        ((JavascriptExecutor) driver).executeScript("window.scrollTo(0, 0)");
        File f = ((TakesScreenshot) driver).getScreenshotAs(OutputType.FILE);
        Files.copy(f.toPath(), screenshots.resolve(name + ".png"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    /** Clicks the {@code what} (a tag name) in the first row of {@code rows} (CSS) that contains {@code text}. */
    private static void clickInRow(String rows, String text, String what) {
        waitFor(d -> {
            WebElement row = d.findElements(By.cssSelector(rows)).stream()
                    .filter(r -> r.getText().contains(text)).findFirst().orElse(null);
            if (row == null) {
                return false;
            }
            row.findElement(By.tagName(what)).click();
            return true;
        });
    }

    private static void select(String id, String value) {
        waitFor(d -> !new Select(d.findElement(By.id(id))).getOptions().isEmpty()
                && new Select(d.findElement(By.id(id))).getOptions().stream().anyMatch(o -> value.equals(o.getAttribute("value"))));
        new Select(el(id)).selectByValue(value);
    }

    @Test
    @Order(1)
    void aWrongPasswordIsRefusedOnTheLoginForm() throws Exception {
        login("guest", "not-the-password");
        textOf("login-error", "Login failed");
        assertTrue(el("login-error").getText().contains("wrong username or password"), el("login-error").getText());
        assertFalse(driver.findElement(By.id("nav")).isDisplayed(), "the console stays hidden");
        assertEquals(null, ((JavascriptExecutor) driver).executeScript("return sessionStorage.getItem('warren.console.auth')"),
                "refused credentials are not kept");
        screenshot("00-login-failed");
    }

    @Test
    @Order(2)
    void aUserWithoutManagementTagsIsRefused() throws Exception {
        Http.Response r = admin.put("/api/users/plain-user", "{\"password\":\"plain-pw\",\"tags\":\"\"}");
        assertEquals(201, r.status(), r.body());
        r = admin.put("/api/permissions/%2F/plain-user", "{\"configure\":\".*\",\"write\":\".*\",\"read\":\".*\"}");
        assertEquals(201, r.status(), r.body());
        login("plain-user", "plain-pw");
        textOf("login-error", "Access refused");
        assertTrue(el("login-error").getText().contains("may not use the management console"), el("login-error").getText());
        assertFalse(driver.findElement(By.id("nav")).isDisplayed());
        screenshot("01-login-not-management-user");
    }

    @Test
    @Order(3)
    void aManagementUserSeesTheOverviewButNoAdminPages() throws Exception {
        Http.Response r = admin.put("/api/users/watcher", "{\"password\":\"watcher-pw\",\"tags\":\"management\"}");
        assertEquals(201, r.status(), r.body());
        login("watcher", "watcher-pw");
        textOf("who-name", "watcher (management)");
        el("stat-queues");
        assertFalse(driver.findElement(By.id("nav-admin")).isDisplayed(), "no Admin tab for a management user");
        go("#/admin/users");
        textOf("app", "needs the administrator");
    }

    @Test
    @Order(4)
    void anOperatorDeclaresPublishesGetsPurgesAndDeletesAQueue() throws Exception {
        login("guest", "guest");
        textOf("who-name", "guest (administrator)");
        // Overview: the totals as the API has them.
        JsonNode overview = admin.get("/api/overview").json();
        textOf("stat-queues", String.valueOf(overview.get("object_totals").get("queues").asInt()));
        textOf("stat-exchanges", String.valueOf(overview.get("object_totals").get("exchanges").asInt()));
        el("stat-memory");
        textOf("alarms", "No resource alarms");
        waitFor(d -> !d.findElements(By.cssSelector(".chart polyline")).isEmpty());
        screenshot("02-overview");

        // Declare a queue in the Queues page.
        driver.findElement(By.cssSelector("#nav a[data-page=queues]")).click();
        select("q-decl-vhost", "/");
        el("q-decl-name").sendKeys("console-q");
        el("q-decl-submit").click();
        textOf("q-decl-result", "Queue console-q declared.");
        Http.Response q = admin.get("/api/queues/%2F/console-q");
        assertEquals(200, q.status(), "the UI declared the queue");
        assertTrue(q.json().get("durable").asBoolean());
        // The list pages through the API; the filter finds it.
        el("queues-filter").sendKeys("console");
        waitFor(d -> d.findElements(By.cssSelector("#queues-table tbody tr")).size() == 1
                && d.findElement(By.id("queues-table")).getText().contains("console-q"));
        textOf("queues-count", "1 matching");
        screenshot("03-queues");

        // Publish to it through the default exchange's page.
        go("#/exchanges/%2F/amq.default");
        el("pub-key").sendKeys("console-q");
        el("pub-payload").sendKeys("hello from the console");
        el("pub-submit").click();
        textOf("pub-result", "Message published and routed.");
        assertEquals(1, admin.get("/api/queues/%2F/console-q").json().get("messages_ready").asInt());
        screenshot("04-exchange-default-publish");

        // The queue's page shows the ready count; get the message and read its payload.
        go("#/queues/%2F/console-q");
        waitFor(d -> tileValue("q-ready").equals("1"));
        assertEquals("1", tileValue("q-total"));
        el("get-submit").click();
        WebElement payload = waitFor(ExpectedConditions.visibilityOfElementLocated(By.cssSelector("#get-messages pre.payload")));
        assertEquals("hello from the console", payload.getText());
        assertTrue(el("get-messages").getText().contains("Routing key\nconsole-q"), el("get-messages").getText());
        // Nack with requeue (the default): the message is still there.
        waitFor(d -> tileValue("q-ready").equals("1"));
        screenshot("05-queue-get-message");

        // Bind it from amq.direct on its page, then unbind it there (a key that is URL-quoted in
        // the binding's properties_key).
        el("qbind-key").clear();
        el("qbind-key").sendKeys("orders.#");
        el("qbind-submit").click();
        textOf("qbind-result", "Bound.");
        assertEquals(1, admin.get("/api/bindings/%2F/e/amq.direct/q/console-q").json().size());
        clickInRow("table tbody tr", "orders.#", "button");
        org.awaitility.Awaitility.await().atMost(WAIT)
                .until(() -> admin.get("/api/bindings/%2F/e/amq.direct/q/console-q").json().size() == 0);
        waitFor(d -> !d.findElement(By.id("app")).getText().contains("orders.#"));

        // Purge: the ready count goes to 0, in the page and in the broker.
        el("q-purge").click();
        acceptConfirm();
        textOf("q-actions-result", "Queue purged.");
        waitFor(d -> tileValue("q-ready").equals("0"));
        assertEquals(0, admin.get("/api/queues/%2F/console-q").json().get("messages").asInt());

        // Delete: back to the list, and the queue is gone.
        el("q-delete").click();
        acceptConfirm();
        waitFor(d -> ((String) ((JavascriptExecutor) d).executeScript("return location.hash")).equals("#/queues"));
        assertEquals(404, admin.get("/api/queues/%2F/console-q").status());
    }

    @Test
    @Order(5)
    void anExchangeIsDeclaredBoundAndPublishedThrough() throws Exception {
        login("guest", "guest");
        el("stat-queues");
        assertEquals(201, admin.put("/api/queues/%2F/bound-q", "{\"durable\":false}").status());
        go("#/exchanges");
        select("x-decl-vhost", "/");
        el("x-decl-name").sendKeys("console-x");
        select("x-decl-type", "topic");
        el("x-decl-submit").click();
        textOf("x-decl-result", "Exchange console-x declared.");
        assertEquals("topic", admin.get("/api/exchanges/%2F/console-x").json().get("type").asText());
        screenshot("06-exchanges");

        go("#/exchanges/%2F/console-x");
        el("bind-dest").sendKeys("bound-q");
        el("bind-key").sendKeys("orders.#");
        driver.findElement(By.cssSelector("#bind button[type=submit]")).click();
        textOf("bind-result", "Bound.");
        JsonNode bindings = admin.get("/api/bindings/%2F/e/console-x/q/bound-q").json();
        assertEquals(1, bindings.size(), bindings.toString());
        assertEquals("orders.#", bindings.get(0).get("routing_key").asText());

        el("pub-key").sendKeys("orders.eu");
        el("pub-payload").sendKeys("routed by topic");
        el("pub-submit").click();
        textOf("pub-result", "Message published and routed.");
        el("pub-key").clear();
        el("pub-key").sendKeys("invoices.eu");
        el("pub-submit").click();
        textOf("pub-result", "not routed");
        assertEquals(1, admin.get("/api/queues/%2F/bound-q").json().get("messages_ready").asInt());
        screenshot("07-exchange-detail");

        // Unbind from the exchange's page.
        clickInRow("table tbody tr", "orders.#", "button");
        org.awaitility.Awaitility.await().atMost(WAIT)
                .until(() -> admin.get("/api/bindings/%2F/e/console-x/q/bound-q").json().size() == 0);

        el("x-delete").click();
        acceptConfirm();
        waitFor(d -> ((String) ((JavascriptExecutor) d).executeScript("return location.hash")).equals("#/exchanges"));
        assertEquals(404, admin.get("/api/exchanges/%2F/console-x").status());
    }

    @Test
    @Order(6)
    void connectionsAndChannelsAreListedAndAConnectionIsClosed() throws Exception {
        ConnectionFactory f = broker.factory();
        Connection c = f.newConnection("console-test-client");
        try {
            Channel ch = c.createChannel();
            ch.confirmSelect();
            login("guest", "guest");
            el("stat-queues");
            go("#/channels");
            waitFor(d -> !d.findElements(By.cssSelector("#channels-table tbody tr")).isEmpty());
            assertTrue(el("channels-table").getText().contains("confirm"), el("channels-table").getText());
            screenshot("08-channels");
            go("#/connections");
            waitFor(d -> d.findElements(By.cssSelector("#connections-table tbody tr")).stream()
                    .anyMatch(r -> r.getText().contains("console-test-client")));
            screenshot("09-connections");
            clickInRow("#connections-table tbody tr", "console-test-client", "a");
            textOf("app", "Client-provided name");
            textOf("app", "console-test-client");
            screenshot("10-connection-detail");
            el("conn-close").click();
            acceptConfirm();
            textOf("app", "Connection closed.");
            org.awaitility.Awaitility.await().atMost(WAIT).until(() -> !c.isOpen());
            assertTrue(c.getCloseReason().getMessage().contains("Closed via the warren console"), c.getCloseReason().getMessage());
        } finally {
            c.abort(1000);
        }
    }

    @Test
    @Order(7)
    void adminPagesListAndChangeUsersVhostsPermissionsAndPolicies() throws Exception {
        login("guest", "guest");
        el("stat-queues");
        go("#/admin/users");
        el("user-name").sendKeys("console-user");
        el("user-pass").sendKeys("pw-1");
        el("user-tags").sendKeys("monitoring");
        driver.findElement(By.cssSelector("#user-add button[type=submit]")).click();
        textOf("user-add-result", "User console-user saved.");
        textOf("app", "console-user");
        assertEquals("monitoring", admin.get("/api/users/console-user").json().get("tags").get(0).asText());
        screenshot("11-admin-users");

        go("#/admin/vhosts");
        el("vhost-name").sendKeys("console-vh");
        driver.findElement(By.cssSelector("#vhost-add button[type=submit]")).click();
        textOf("vhost-add-result", "Virtual host console-vh saved");
        assertEquals(200, admin.get("/api/vhosts/console-vh").status());
        screenshot("12-admin-vhosts");

        go("#/admin/permissions");
        select("perm-user", "console-user");
        select("perm-vhost", "console-vh");
        driver.findElement(By.cssSelector("#perm-set button[type=submit]")).click();
        textOf("perm-set-result", "Permissions of console-user in console-vh set.");
        assertEquals(".*", admin.get("/api/permissions/console-vh/console-user").json().get("configure").asText());
        screenshot("13-admin-permissions");

        go("#/admin/policies");
        select("policy-vhost", "/");
        el("policy-name").sendKeys("console-ttl");
        el("policy-pattern").sendKeys("^ttl\\.");
        el("policy-definition").sendKeys("{\"message-ttl\": 60000}");
        driver.findElement(By.cssSelector("#policy-add button[type=submit]")).click();
        textOf("policy-add-result", "Policy console-ttl saved.");
        assertEquals(60000, admin.get("/api/policies/%2F/console-ttl").json().get("definition").get("message-ttl").asInt());
        // A bad definition shows the API's reason inline.
        el("policy-definition").clear();
        el("policy-definition").sendKeys("{\"no-such-key\": 1}");
        driver.findElement(By.cssSelector("#policy-add button[type=submit]")).click();
        textOf("policy-add-result", "400 bad_request");
        screenshot("14-admin-policies");

        // Delete the policy from its row.
        clickInRow("table tbody tr", "console-ttl", "button");
        acceptConfirm();
        org.awaitility.Awaitility.await().atMost(WAIT).until(() -> admin.get("/api/policies/%2F/console-ttl").status() == 404);
        waitFor(d -> !d.findElement(By.id("app")).getText().contains("console-ttl"));

        // Clear the permission, delete the vhost and the user, each from its row.
        go("#/admin/permissions");
        clickInRow("table tbody tr", "console-user", "button");
        acceptConfirm();
        org.awaitility.Awaitility.await().atMost(WAIT)
                .until(() -> admin.get("/api/permissions/console-vh/console-user").status() == 404);
        go("#/admin/vhosts");
        clickInRow("table tbody tr", "console-vh", "button");
        acceptConfirm();
        org.awaitility.Awaitility.await().atMost(WAIT).until(() -> admin.get("/api/vhosts/console-vh").status() == 404);
        go("#/admin/users");
        clickInRow("table tbody tr", "console-user", "button");
        acceptConfirm();
        org.awaitility.Awaitility.await().atMost(WAIT).until(() -> admin.get("/api/users/console-user").status() == 404);
        waitFor(d -> !d.findElement(By.id("app")).getText().contains("console-user"));
    }

    @Test
    @Order(8)
    void definitionsAreImportedFromAnUploadedFile() throws Exception {
        Path file = Files.createTempFile("console-defs", ".json");
        Files.writeString(file, "{\"queues\":[{\"name\":\"imported-q\",\"vhost\":\"/\",\"durable\":true,"
                + "\"auto_delete\":false,\"arguments\":{}}]}");
        login("guest", "guest");
        el("stat-queues");
        go("#/admin/definitions");
        el("defs-export").click();
        textOf("app", "Exported");
        // The download is the API's export.
        Path exported = org.awaitility.Awaitility.await().atMost(WAIT).until(() -> {
            try (var files = Files.list(downloads)) {
                return files.filter(p -> p.getFileName().toString().matches("warren-definitions-.*\\.json")).findFirst().orElse(null);
            }
        }, java.util.Objects::nonNull);
        JsonNode defs = Http.JSON.readTree(Files.readString(exported));
        assertEquals(admin.get("/api/definitions").json().get("users").size(), defs.get("users").size());
        assertTrue(defs.get("users").toString().contains("\"watcher\""), defs.toString());
        el("defs-file").sendKeys(file.toString());
        el("defs-import-submit").click();
        textOf("defs-import-result", "Imported " + file.getFileName());
        assertEquals(200, admin.get("/api/queues/%2F/imported-q").status());
        // A document the API refuses shows its reason.
        Files.writeString(file, "{\"queues\":[{\"name\":\"q2\",\"vhost\":\"nowhere\",\"durable\":true}]}");
        el("defs-file").sendKeys(file.toString());
        el("defs-import-submit").click();
        textOf("defs-import-result", "400 bad_request");
        screenshot("15-admin-definitions");
        Files.delete(file);
    }
}

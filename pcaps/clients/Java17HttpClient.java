// Tiny Java 17 java.net.http.HttpClient client used by ../make-captures.sh.
// Run as a single-file program:  java Java17HttpClient.java https://shop.example:8443/
// Trust comes from -Djavax.net.ssl.trustStore=...; name resolution from the
// network namespace's hosts file (or -Djdk.net.hosts.file=...).
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

public class Java17HttpClient {
    public static void main(String[] args) throws Exception {
        String base = args.length > 0 ? args[0] : "https://shop.example:8443/";
        HttpClient client = HttpClient.newBuilder()
                .connectTimeout(Duration.ofSeconds(10))
                .build();
        HttpResponse<String> r1 = client.send(
                HttpRequest.newBuilder(URI.create(base)).timeout(Duration.ofSeconds(10)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
        System.out.println("GET / -> " + r1.statusCode() + " " + r1.version());
        HttpResponse<String> r2 = client.send(
                HttpRequest.newBuilder(URI.create(base + "api/login")).timeout(Duration.ofSeconds(10))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString("{\"user\":\"alice\",\"password\":\"wrong\"}"))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        System.out.println("POST /api/login -> " + r2.statusCode() + " " + r2.body());
        System.out.println("version: Java " + System.getProperty("java.runtime.version")
                + " (" + System.getProperty("java.vendor") + ", " + System.getProperty("java.vm.name")
                + "), java.net.http.HttpClient");
    }
}

/*
 * A loopback Kafka-protocol broker for mistbridge's tests: librdkafka's built-in mock cluster.
 *
 *   kafka-mock <brokers> [topic:partitions]...
 *
 * Prints "BOOTSTRAP <host:port,...>" once listening, then reads commands on stdin, one per line:
 *   topic <name> <partitions>   create a topic
 *   down <broker|-1>            disconnect a broker (-1: all) and refuse connections
 *   up <broker|-1>              accept connections again
 *   leader <topic> <partition> <broker>   move a partition leader
 *   rtt <broker|-1> <ms>        add round-trip delay
 *   error <apikey> <code>       fail the next request of that API (0 = Produce) with that error code
 * and answers "OK" or "ERR <reason>" to each. Exits when stdin closes.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int create_topic(rd_kafka_mock_cluster_t *cluster, const char *spec) {
        char name[256];
        int partitions = 4;
        const char *colon = strrchr(spec, ':');
        size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
        if (len == 0 || len >= sizeof(name)) return -1;
        memcpy(name, spec, len);
        name[len] = '\0';
        if (colon) partitions = atoi(colon + 1);
        return rd_kafka_mock_topic_create(cluster, name, partitions, 1) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : -1;
}

int main(int argc, char **argv) {
        char errstr[512];
        int brokers = argc > 1 ? atoi(argv[1]) : 1;
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr));
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "rd_kafka_new: %s\n", errstr);
                return 1;
        }
        rd_kafka_mock_cluster_t *cluster = rd_kafka_mock_cluster_new(rk, brokers < 1 ? 1 : brokers);
        if (!cluster) {
                fprintf(stderr, "rd_kafka_mock_cluster_new failed\n");
                return 1;
        }
        for (int i = 2; i < argc; i++) {
                if (create_topic(cluster, argv[i]) != 0) {
                        fprintf(stderr, "cannot create topic %s\n", argv[i]);
                        return 1;
                }
        }
        printf("BOOTSTRAP %s\n", rd_kafka_mock_cluster_bootstraps(cluster));
        fflush(stdout);

        char line[512];
        while (fgets(line, sizeof(line), stdin)) {
                char cmd[32] = "", a[256] = "";
                int b = 0, c = 0;
                int n = sscanf(line, "%31s %255s %d %d", cmd, a, &b, &c);
                rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
                if (n >= 3 && strcmp(cmd, "topic") == 0) {
                        err = rd_kafka_mock_topic_create(cluster, a, b, 1);
                } else if (n >= 2 && strcmp(cmd, "down") == 0) {
                        err = rd_kafka_mock_broker_set_down(cluster, atoi(a));
                } else if (n >= 2 && strcmp(cmd, "up") == 0) {
                        err = rd_kafka_mock_broker_set_up(cluster, atoi(a));
                } else if (n >= 4 && strcmp(cmd, "leader") == 0) {
                        err = rd_kafka_mock_partition_set_leader(cluster, a, b, c);
                } else if (n >= 3 && strcmp(cmd, "rtt") == 0) {
                        err = rd_kafka_mock_broker_set_rtt(cluster, atoi(a), b);
                } else if (n >= 3 && strcmp(cmd, "error") == 0) {
                        rd_kafka_mock_push_request_errors(cluster, (int16_t)atoi(a), 1, (rd_kafka_resp_err_t)b);
                } else {
                        printf("ERR unknown command\n");
                        fflush(stdout);
                        continue;
                }
                if (err) printf("ERR %s\n", rd_kafka_err2str(err));
                else printf("OK\n");
                fflush(stdout);
        }
        rd_kafka_mock_cluster_destroy(cluster);
        rd_kafka_destroy(rk);
        return 0;
}

//! The observability directives: `slowlog-log-slower-than`,
//! `slowlog-max-len`, `latency-monitor-threshold`, `latency-tracking`,
//! `latency-tracking-info-percentiles` (Redis's, with its defaults and
//! error texts) and Lattice's `metrics-port` / `metrics-bind` for the
//! Prometheus endpoint.

/// Where the Prometheus endpoint listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetricsPort {
    /// `metrics-port 0`: no endpoint (the default).
    #[default]
    Off,
    /// `metrics-port auto`: an ephemeral port, reported in the log line
    /// `Metrics listening addr=<addr>` (for tests and sidecars).
    Auto,
    /// A fixed port.
    Port(u16),
}

/// Observability settings, part of `ServerConfig`.
#[derive(Debug, Clone, PartialEq)]
pub struct ObserveConfig {
    /// `slowlog-log-slower-than` (µs; -1 disables, 0 logs everything).
    pub slowlog_log_slower_than: i64,
    /// `slowlog-max-len`.
    pub slowlog_max_len: u64,
    /// `latency-monitor-threshold` (ms; 0 disables).
    pub latency_monitor_threshold: u64,
    /// `latency-tracking`: per-command latency histograms.
    pub latency_tracking: bool,
    /// `latency-tracking-info-percentiles`.
    pub latency_tracking_info_percentiles: Vec<f64>,
    /// `metrics-port`.
    pub metrics_port: MetricsPort,
    /// `metrics-bind`.
    pub metrics_bind: String,
}

impl Default for ObserveConfig {
    fn default() -> Self {
        Self {
            slowlog_log_slower_than: 10_000,
            slowlog_max_len: 128,
            latency_monitor_threshold: 0,
            latency_tracking: true,
            latency_tracking_info_percentiles: vec![50.0, 99.0, 99.9],
            metrics_port: MetricsPort::Off,
            metrics_bind: "127.0.0.1".into(),
        }
    }
}

/// The directives this module owns.
pub const DIRECTIVES: &[&str] = &[
    "slowlog-log-slower-than",
    "slowlog-max-len",
    "latency-monitor-threshold",
    "latency-tracking",
    "latency-tracking-info-percentiles",
    "metrics-port",
    "metrics-bind",
];

const INT_ERR: &str = "argument couldn't be parsed into an integer";

fn single(values: &[String]) -> Result<&str, String> {
    match values {
        [v] => Ok(v.as_str()),
        _ => Err("wrong number of arguments".into()),
    }
}

fn ranged(values: &[String], min: i64) -> Result<i64, String> {
    let v: i64 = single(values)?.parse().map_err(|_| INT_ERR.to_string())?;
    if v < min {
        return Err(format!(
            "argument must be between {min} and 9223372036854775807 inclusive"
        ));
    }
    Ok(v)
}

impl ObserveConfig {
    /// True if `name` (lowercase) is one of this module's directives.
    pub fn handles(name: &str) -> bool {
        DIRECTIVES.contains(&name)
    }

    /// Sets a directive (name lowercase). The error is the reason text.
    pub fn set(&mut self, name: &str, values: &[String]) -> Result<(), String> {
        match name {
            "slowlog-log-slower-than" => self.slowlog_log_slower_than = ranged(values, -1)?,
            "slowlog-max-len" => self.slowlog_max_len = ranged(values, 0)?.unsigned_abs(),
            "latency-monitor-threshold" => {
                self.latency_monitor_threshold = ranged(values, 0)?.unsigned_abs()
            }
            "latency-tracking" => {
                self.latency_tracking = match single(values)?.to_ascii_lowercase().as_str() {
                    "yes" => true,
                    "no" => false,
                    _ => return Err("argument must be 'yes' or 'no'".into()),
                }
            }
            "latency-tracking-info-percentiles" => {
                // One CONFIG SET argument or several command-line ones.
                let mut out = Vec::new();
                for word in values.iter().flat_map(|v| v.split_whitespace()) {
                    let p: f64 = word
                        .parse()
                        .ok()
                        .filter(|p: &f64| p.is_finite())
                        .ok_or("Invalid latency-tracking-info-percentiles parameters")?;
                    if !(0.0..=100.0).contains(&p) {
                        return Err("latency-tracking-info-percentiles parameters should sit between [0.0,100.0]".into());
                    }
                    out.push(p);
                }
                self.latency_tracking_info_percentiles = out;
            }
            "metrics-port" => {
                let v = single(values)?;
                self.metrics_port = if v.eq_ignore_ascii_case("auto") {
                    MetricsPort::Auto
                } else {
                    match v.parse::<u16>() {
                        Ok(0) => MetricsPort::Off,
                        Ok(p) => MetricsPort::Port(p),
                        Err(_) => {
                            return Err(
                                "argument must be 'auto' or between 0 and 65535 inclusive".into()
                            )
                        }
                    }
                };
            }
            "metrics-bind" => {
                let v = single(values)?;
                if v.is_empty() {
                    return Err("argument must be an address".into());
                }
                self.metrics_bind = v.to_string();
            }
            other => return Err(format!("unknown directive '{other}'")),
        }
        Ok(())
    }

    /// A directive's value as CONFIG GET shows it.
    pub fn get(&self, name: &str) -> Option<String> {
        Some(match name {
            "slowlog-log-slower-than" => self.slowlog_log_slower_than.to_string(),
            "slowlog-max-len" => self.slowlog_max_len.to_string(),
            "latency-monitor-threshold" => self.latency_monitor_threshold.to_string(),
            "latency-tracking" => if self.latency_tracking { "yes" } else { "no" }.to_string(),
            "latency-tracking-info-percentiles" => self
                .latency_tracking_info_percentiles
                .iter()
                .map(f64::to_string)
                .collect::<Vec<_>>()
                .join(" "),
            "metrics-port" => match self.metrics_port {
                MetricsPort::Off => "0".into(),
                MetricsPort::Auto => "auto".into(),
                MetricsPort::Port(p) => p.to_string(),
            },
            "metrics-bind" => self.metrics_bind.clone(),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn defaults_and_errors_as_redis() {
        let mut c = ObserveConfig::default();
        assert_eq!(c.get("slowlog-log-slower-than").unwrap(), "10000");
        assert_eq!(c.get("slowlog-max-len").unwrap(), "128");
        assert_eq!(c.get("latency-monitor-threshold").unwrap(), "0");
        assert_eq!(c.get("latency-tracking").unwrap(), "yes");
        assert_eq!(
            c.get("latency-tracking-info-percentiles").unwrap(),
            "50 99 99.9"
        );
        assert_eq!(
            c.set("slowlog-log-slower-than", &v(&["-2"])).unwrap_err(),
            "argument must be between -1 and 9223372036854775807 inclusive"
        );
        assert_eq!(c.set("slowlog-max-len", &v(&["x"])).unwrap_err(), INT_ERR);
        assert_eq!(
            c.set("latency-tracking-info-percentiles", &v(&["50 101"]))
                .unwrap_err(),
            "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
        );
        c.set("latency-tracking-info-percentiles", &v(&["50", "99.99"]))
            .unwrap();
        assert_eq!(
            c.get("latency-tracking-info-percentiles").unwrap(),
            "50 99.99"
        );
        c.set("latency-tracking-info-percentiles", &v(&[""]))
            .unwrap();
        assert_eq!(c.get("latency-tracking-info-percentiles").unwrap(), "");
        c.set("slowlog-log-slower-than", &v(&["-1"])).unwrap();
        assert_eq!(c.slowlog_log_slower_than, -1);
    }

    #[test]
    fn metrics_port_values() {
        let mut c = ObserveConfig::default();
        assert_eq!(c.get("metrics-port").unwrap(), "0");
        c.set("metrics-port", &v(&["AUTO"])).unwrap();
        assert_eq!(c.metrics_port, MetricsPort::Auto);
        c.set("metrics-port", &v(&["9121"])).unwrap();
        assert_eq!(c.get("metrics-port").unwrap(), "9121");
        c.set("metrics-port", &v(&["0"])).unwrap();
        assert_eq!(c.metrics_port, MetricsPort::Off);
        assert!(c.set("metrics-port", &v(&["70000"])).is_err());
        assert!(c.set("metrics-bind", &v(&[""])).is_err());
    }
}

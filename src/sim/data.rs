//! The KuaiRand log loader: the official 19-column format, every row checked.

use std::path::{Path, PathBuf};

/// Signals in the order the simulator and the models use them.
pub const SIGNALS: [&str; 7] = ["click", "long_view", "like", "follow", "comment", "forward", "hate"];
pub const CLICK: usize = 0;
pub const LONG_VIEW: usize = 1;
pub const LIKE: usize = 2;

/// The columns of the official log, in file order.
pub const COLUMNS: [&str; 19] = [
    "user_id", "video_id", "date", "hourmin", "time_ms", "is_click", "is_like", "is_follow", "is_comment", "is_forward",
    "is_hate", "long_view", "play_time_ms", "duration_ms", "profile_stay_time", "comment_stay_time", "is_profile_enter",
    "is_rand", "tab",
];

/// One impression.
#[derive(Clone, Debug, PartialEq)]
pub struct Impression {
    pub user: u32,
    pub item: u32,
    /// yyyymmdd.
    pub date: u32,
    /// 0–23, Beijing time.
    pub hour: u8,
    pub time_ms: i64,
    /// 0/1 per entry of `SIGNALS`.
    pub signals: [u8; 7],
    pub play_ms: u64,
    /// 0 means unknown.
    pub duration_ms: u64,
    pub tab: u8,
}

/// Which of the log's users a simulator is fitted on: all of them, or one
/// side of a fixed 75% / 25% split by a hash of the user id, so a policy
/// trained on the first can be evaluated on users it never saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum UserSplit {
    #[default]
    All,
    /// The 75% of users whose id hashes to 1, 2 or 3 mod 4.
    Train,
    /// The other 25%.
    Unseen,
}

impl UserSplit {
    pub fn keeps(self, user: u32) -> bool {
        let unseen = crate::blob::crc32(&user.to_le_bytes()) % 4 == 0;
        match self {
            UserSplit::All => true,
            UserSplit::Train => !unseen,
            UserSplit::Unseen => unseen,
        }
    }
}

/// Why a log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {path}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: header is {got:?}, expected the 19 KuaiRand log columns starting {expected:?}")]
    Header { path: PathBuf, got: Vec<String>, expected: Vec<&'static str> },
    #[error("{path}:{line}: column {column}: {problem} (value {value:?})")]
    BadRow { path: PathBuf, line: u64, column: &'static str, value: String, problem: String },
    #[error("{path}:{line}: {problem}")]
    BadRecord { path: PathBuf, line: u64, problem: String },
    #[error("{0}: no log_*.csv files found")]
    NoFiles(PathBuf),
}

/// A loaded log and what was skipped on the way.
#[derive(Debug, Default)]
pub struct Log {
    pub rows: Vec<Impression>,
    /// Rows rejected under `skip_bad_rows`, with the first few reasons.
    pub skipped: usize,
    pub skipped_examples: Vec<String>,
}

fn parse_field<T: std::str::FromStr>(rec: &csv::StringRecord, idx: usize) -> Result<T, (usize, String)> {
    let v = rec.get(idx).unwrap_or("");
    v.trim().parse::<T>().map_err(|_| (idx, format!("expected a {}", std::any::type_name::<T>())))
}

fn parse_row(rec: &csv::StringRecord) -> Result<Impression, (usize, String)> {
    if rec.len() != COLUMNS.len() {
        return Err((usize::MAX, format!("{} fields, expected {}", rec.len(), COLUMNS.len())));
    }
    let flag = |idx: usize| -> Result<u8, (usize, String)> {
        match parse_field::<u8>(rec, idx)? {
            v @ (0 | 1) => Ok(v),
            _ => Err((idx, "expected 0 or 1".into())),
        }
    };
    let date: u32 = parse_field(rec, 2)?;
    let (y, m, d) = (date / 10000, date / 100 % 100, date % 100);
    if !(2000..=2100).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err((2, "expected a date yyyymmdd".into()));
    }
    let hourmin: u32 = parse_field(rec, 3)?;
    if hourmin / 100 > 23 || hourmin % 100 > 59 {
        return Err((3, "expected hhmm".into()));
    }
    let play_ms: u64 = parse_field(rec, 12)?;
    let duration_ms: u64 = parse_field(rec, 13)?;
    Ok(Impression {
        user: parse_field(rec, 0)?,
        item: parse_field(rec, 1)?,
        date,
        hour: (hourmin / 100) as u8,
        time_ms: parse_field(rec, 4)?,
        signals: [flag(5)?, flag(11)?, flag(6)?, flag(7)?, flag(8)?, flag(9)?, flag(10)?],
        play_ms,
        duration_ms,
        tab: parse_field(rec, 18)?,
    })
}

/// Reads one log file. A malformed row is an error naming the file, line and
/// column, or, with `skip_bad_rows`, is counted in `Log::skipped`.
pub fn read_log(path: &Path, skip_bad_rows: bool, log: &mut Log) -> Result<(), DataError> {
    let file = std::fs::File::open(path).map_err(|source| DataError::Io { path: path.into(), source })?;
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(std::io::BufReader::new(file));
    let header = rdr.headers().map_err(|e| DataError::BadRecord { path: path.into(), line: 1, problem: e.to_string() })?.clone();
    if header.iter().collect::<Vec<_>>() != COLUMNS {
        return Err(DataError::Header { path: path.into(), got: header.iter().map(String::from).collect(), expected: COLUMNS.to_vec() });
    }
    for rec in rdr.records() {
        let rec = rec.map_err(|e| DataError::BadRecord {
            path: path.into(),
            line: e.position().map_or(0, |p| p.line()),
            problem: e.to_string(),
        })?;
        let line = rec.position().map_or(0, |p| p.line());
        match parse_row(&rec) {
            Ok(row) => log.rows.push(row),
            Err((idx, problem)) => {
                let err = if idx == usize::MAX {
                    DataError::BadRecord { path: path.into(), line, problem }
                } else {
                    DataError::BadRow { path: path.into(), line, column: COLUMNS[idx], value: rec.get(idx).unwrap_or("").to_string(), problem }
                };
                if !skip_bad_rows {
                    return Err(err);
                }
                log.skipped += 1;
                if log.skipped_examples.len() < 5 {
                    log.skipped_examples.push(err.to_string());
                }
            }
        }
    }
    Ok(())
}

/// Reads every `log_*.csv` in a directory (or one file), sorted by user then time.
pub fn load_dir(path: &Path, skip_bad_rows: bool) -> Result<Log, DataError> {
    let mut files = Vec::new();
    if path.is_file() {
        files.push(path.to_path_buf());
    } else {
        let entries = std::fs::read_dir(path).map_err(|source| DataError::Io { path: path.into(), source })?;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with("log_") && name.ends_with(".csv") {
                files.push(e.path());
            }
        }
        files.sort();
    }
    if files.is_empty() {
        return Err(DataError::NoFiles(path.into()));
    }
    let mut log = Log::default();
    for f in &files {
        read_log(f, skip_bad_rows, &mut log)?;
    }
    log.rows.sort_by_key(|r| (r.user, r.time_ms));
    Ok(log)
}

/// Day of week, 0 = Monday, for a yyyymmdd date (Gregorian).
pub fn weekday(date: u32) -> u8 {
    let (mut y, m, d) = ((date / 10000) as i32, (date / 100 % 100) as i32, (date % 100) as i32);
    // Sakamoto's method, shifted so Monday is 0.
    const T: [i32; 12] = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
    if m < 3 {
        y -= 1;
    }
    let sunday0 = (y + y / 4 - y / 100 + y / 400 + T[(m - 1) as usize] + d) % 7;
    ((sunday0 + 6) % 7) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekday_is_right() {
        assert_eq!(weekday(20220422), 4); // a Friday
        assert_eq!(weekday(20220508), 6); // a Sunday
        assert_eq!(weekday(20240101), 0); // a Monday
    }
}

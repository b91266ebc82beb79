//! What the server says about itself: the `GetSqlInfo` table (the full standard set,
//! which JDBC's DatabaseMetaData, Superset and DBeaver read) and `GetXdbcTypeInfo` for
//! every type the server emits.

use std::collections::HashMap;
use std::sync::LazyLock;

use arrow_flight::sql::metadata::{
    SqlInfoData, SqlInfoDataBuilder, XdbcTypeInfo, XdbcTypeInfoData, XdbcTypeInfoDataBuilder,
};
use arrow_flight::sql::{
    Nullable, Searchable, SqlInfo, SqlNullOrdering, SqlSupportedCaseSensitivity,
    SqlSupportedTransactions, SqlSupportsConvert, SqlTransactionIsolationLevel, XdbcDataType,
    XdbcDatetimeSubcode,
};

/// SQL keywords beyond SQL:2003 that DataFusion understands (what JDBC's getSQLKeywords
/// reports).
const KEYWORDS: &[&str] = &[
    "ANALYZE", "ARRAY", "COPY", "DESCRIBE", "EXPLAIN", "EXTERNAL", "FORMAT", "ILIKE", "LIMIT",
    "LOCATION", "OFFSET", "OPTIONS", "PARQUET", "QUALIFY", "SHOW", "UNNEST",
];

const NUMERIC_FUNCTIONS: &[&str] = &[
    "abs", "acos", "asin", "atan", "atan2", "cbrt", "ceil", "cos", "cot", "degrees", "exp",
    "floor", "ln", "log", "log10", "log2", "pi", "power", "radians", "random", "round", "signum",
    "sin", "sqrt", "tan", "trunc",
];

const STRING_FUNCTIONS: &[&str] = &[
    "ascii",
    "btrim",
    "char_length",
    "chr",
    "concat",
    "concat_ws",
    "initcap",
    "left",
    "length",
    "lower",
    "lpad",
    "ltrim",
    "position",
    "regexp_replace",
    "repeat",
    "replace",
    "reverse",
    "right",
    "rpad",
    "rtrim",
    "split_part",
    "starts_with",
    "strpos",
    "substr",
    "substring",
    "to_hex",
    "translate",
    "trim",
    "upper",
];

const DATETIME_FUNCTIONS: &[&str] = &[
    "current_date",
    "current_time",
    "date_bin",
    "date_part",
    "date_trunc",
    "datepart",
    "datetrunc",
    "from_unixtime",
    "make_date",
    "now",
    "to_char",
    "to_date",
    "to_timestamp",
    "to_timestamp_micros",
    "to_timestamp_millis",
    "to_timestamp_nanos",
    "to_timestamp_seconds",
    "to_unixtime",
];

/// The `GetSqlInfo` answer. `functions` lists the statistics functions (ours) for
/// SQL_SYSTEM_FUNCTIONS, so BI tools can offer them.
pub fn sql_info(functions: &[String]) -> SqlInfoData {
    let mut b = SqlInfoDataBuilder::new();
    b.append(SqlInfo::FlightSqlServerName, "runlake");
    b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    b.append(SqlInfo::FlightSqlServerArrowVersion, "59");
    b.append(SqlInfo::FlightSqlServerReadOnly, false);
    b.append(SqlInfo::FlightSqlServerSql, true);
    b.append(SqlInfo::FlightSqlServerSubstrait, false);
    b.append(SqlInfo::FlightSqlServerSubstraitMinVersion, "");
    b.append(SqlInfo::FlightSqlServerSubstraitMaxVersion, "");
    b.append(
        SqlInfo::FlightSqlServerTransaction,
        SqlSupportedTransactions::SqlTransactionUnspecified as i32,
    );
    b.append(SqlInfo::FlightSqlServerCancel, false);
    b.append(SqlInfo::FlightSqlServerBulkIngestion, true);
    b.append(SqlInfo::FlightSqlServerIngestTransactionsSupported, false);
    b.append(SqlInfo::FlightSqlServerStatementTimeout, 0i32);
    b.append(SqlInfo::FlightSqlServerTransactionTimeout, 0i32);
    b.append(SqlInfo::SqlDdlCatalog, false);
    b.append(SqlInfo::SqlDdlSchema, false);
    b.append(SqlInfo::SqlDdlTable, true);
    b.append(
        SqlInfo::SqlIdentifierCase,
        SqlSupportedCaseSensitivity::SqlCaseSensitivityLowercase as i32,
    );
    b.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    b.append(
        SqlInfo::SqlQuotedIdentifierCase,
        SqlSupportedCaseSensitivity::SqlCaseSensitivityCaseInsensitive as i32,
    );
    b.append(SqlInfo::SqlAllTablesAreSelectable, true);
    b.append(
        SqlInfo::SqlNullOrdering,
        SqlNullOrdering::SqlNullsSortedHigh as i32,
    );
    b.append(SqlInfo::SqlKeywords, KEYWORDS);
    b.append(SqlInfo::SqlNumericFunctions, NUMERIC_FUNCTIONS);
    b.append(SqlInfo::SqlStringFunctions, STRING_FUNCTIONS);
    b.append(SqlInfo::SqlSystemFunctions, functions.to_vec());
    b.append(SqlInfo::SqlDatetimeFunctions, DATETIME_FUNCTIONS);
    b.append(SqlInfo::SqlSearchStringEscape, "\\");
    b.append(SqlInfo::SqlExtraNameCharacters, "");
    b.append(SqlInfo::SqlSupportsColumnAliasing, true);
    b.append(SqlInfo::SqlNullPlusNullIsNull, true);
    b.append(SqlInfo::SqlSupportsConvert, convert_map());
    b.append(SqlInfo::SqlSupportsTableCorrelationNames, true);
    b.append(SqlInfo::SqlSupportsDifferentTableCorrelationNames, false);
    b.append(SqlInfo::SqlSupportsExpressionsInOrderBy, true);
    b.append(SqlInfo::SqlSupportsOrderByUnrelated, true);
    b.append(SqlInfo::SqlSupportedGroupBy, 3i32); // unrelated + beyond select
    b.append(SqlInfo::SqlSupportsLikeEscapeClause, true);
    b.append(SqlInfo::SqlSupportsNonNullableColumns, true);
    b.append(SqlInfo::SqlSupportedGrammar, 3i32); // minimum + core
    b.append(SqlInfo::SqlAnsi92SupportedLevel, 1i32); // entry level
    b.append(SqlInfo::SqlSupportsIntegrityEnhancementFacility, false);
    b.append(SqlInfo::SqlOuterJoinsSupportLevel, 2i32); // full outer joins
    b.append(SqlInfo::SqlSchemaTerm, "schema");
    b.append(SqlInfo::SqlProcedureTerm, "procedure");
    b.append(SqlInfo::SqlCatalogTerm, "catalog");
    b.append(SqlInfo::SqlCatalogAtStart, true);
    b.append(SqlInfo::SqlSchemasSupportedActions, 0i32);
    b.append(SqlInfo::SqlCatalogsSupportedActions, 0i32);
    b.append(SqlInfo::SqlSupportedPositionedCommands, 0i32);
    b.append(SqlInfo::SqlSelectForUpdateSupported, false);
    b.append(SqlInfo::SqlStoredProceduresSupported, false);
    b.append(SqlInfo::SqlSupportedSubqueries, 15i32); // comparisons, EXISTS, IN, quantified
    b.append(SqlInfo::SqlCorrelatedSubqueriesSupported, true);
    b.append(SqlInfo::SqlSupportedUnions, 3i32); // UNION and UNION ALL
    for info in [
        SqlInfo::SqlMaxBinaryLiteralLength,
        SqlInfo::SqlMaxCharLiteralLength,
        SqlInfo::SqlMaxColumnNameLength,
        SqlInfo::SqlMaxColumnsInGroupBy,
        SqlInfo::SqlMaxColumnsInIndex,
        SqlInfo::SqlMaxColumnsInOrderBy,
        SqlInfo::SqlMaxColumnsInSelect,
        SqlInfo::SqlMaxColumnsInTable,
        SqlInfo::SqlMaxConnections,
        SqlInfo::SqlMaxCursorNameLength,
        SqlInfo::SqlMaxIndexLength,
        SqlInfo::SqlDbSchemaNameLength,
        SqlInfo::SqlMaxProcedureNameLength,
        SqlInfo::SqlMaxCatalogNameLength,
        SqlInfo::SqlMaxRowSize,
        SqlInfo::SqlMaxStatementLength,
        SqlInfo::SqlMaxStatements,
        SqlInfo::SqlMaxTableNameLength,
        SqlInfo::SqlMaxTablesInSelect,
        SqlInfo::SqlMaxUsernameLength,
    ] {
        b.append(info, 0i64); // 0: no limit known
    }
    b.append(SqlInfo::SqlMaxRowSizeIncludesBlobs, true);
    b.append(
        SqlInfo::SqlDefaultTransactionIsolation,
        SqlTransactionIsolationLevel::SqlTransactionNone as i64,
    );
    b.append(SqlInfo::SqlTransactionsSupported, false);
    b.append(SqlInfo::SqlSupportedTransactionsIsolationLevels, 0i32);
    b.append(SqlInfo::SqlDataDefinitionCausesTransactionCommit, false);
    b.append(SqlInfo::SqlDataDefinitionsInTransactionsIgnored, true);
    b.append(SqlInfo::SqlSupportedResultSetTypes, 2i32); // forward only
    b.append(
        SqlInfo::SqlSupportedConcurrenciesForResultSetUnspecified,
        0i32,
    );
    b.append(
        SqlInfo::SqlSupportedConcurrenciesForResultSetForwardOnly,
        2i32,
    ); // read only
    b.append(
        SqlInfo::SqlSupportedConcurrenciesForResultSetScrollSensitive,
        0i32,
    );
    b.append(
        SqlInfo::SqlSupportedConcurrenciesForResultSetScrollInsensitive,
        0i32,
    );
    b.append(SqlInfo::SqlBatchUpdatesSupported, true);
    b.append(SqlInfo::SqlSavepointsSupported, false);
    b.append(SqlInfo::SqlNamedParametersSupported, false);
    b.append(SqlInfo::SqlLocatorsUpdateCopy, false);
    b.append(SqlInfo::SqlStoredFunctionsUsingCallSyntaxSupported, false);
    b.build().expect("the SqlInfo values fit their union")
}

/// CAST support: every numeric, text and time type converts to each other.
fn convert_map() -> HashMap<i32, Vec<i32>> {
    use SqlSupportsConvert as C;
    let all = [
        C::SqlConvertBigint,
        C::SqlConvertBit,
        C::SqlConvertChar,
        C::SqlConvertDate,
        C::SqlConvertDecimal,
        C::SqlConvertFloat,
        C::SqlConvertInteger,
        C::SqlConvertNumeric,
        C::SqlConvertReal,
        C::SqlConvertSmallint,
        C::SqlConvertTimestamp,
        C::SqlConvertTinyint,
        C::SqlConvertVarchar,
    ]
    .map(|c| c as i32);
    all.iter().map(|&c| (c, all.to_vec())).collect()
}

/// `GetXdbcTypeInfo`: the SQL types of every Arrow type the server emits.
pub static XDBC_TYPES: LazyLock<XdbcTypeInfoData> = LazyLock::new(|| {
    let mut b = XdbcTypeInfoDataBuilder::new();
    let t =
        |name: &str, data_type: XdbcDataType, size: Option<i32>, radix: Option<i32>| XdbcTypeInfo {
            type_name: name.to_string(),
            data_type,
            column_size: size,
            literal_prefix: None,
            literal_suffix: None,
            create_params: None,
            nullable: Nullable::NullabilityNullable,
            case_sensitive: false,
            searchable: Searchable::Full,
            unsigned_attribute: radix.map(|_| false),
            fixed_prec_scale: false,
            auto_increment: radix.map(|_| false),
            local_type_name: Some(name.to_string()),
            minimum_scale: None,
            maximum_scale: None,
            sql_data_type: data_type,
            datetime_subcode: None,
            num_prec_radix: radix,
            interval_precision: None,
        };
    b.append(t("BOOLEAN", XdbcDataType::XdbcBit, Some(1), None));
    b.append(t("TINYINT", XdbcDataType::XdbcTinyint, Some(3), Some(10)));
    b.append(t("SMALLINT", XdbcDataType::XdbcSmallint, Some(5), Some(10)));
    b.append(t("INTEGER", XdbcDataType::XdbcInteger, Some(10), Some(10)));
    b.append(t("BIGINT", XdbcDataType::XdbcBigint, Some(19), Some(10)));
    b.append(t("REAL", XdbcDataType::XdbcReal, Some(24), Some(2)));
    b.append(t("DOUBLE", XdbcDataType::XdbcDouble, Some(53), Some(2)));
    b.append(t("DECIMAL", XdbcDataType::XdbcDecimal, Some(38), Some(10)));
    let mut varchar = t("VARCHAR", XdbcDataType::XdbcVarchar, None, None);
    varchar.literal_prefix = Some("'".into());
    varchar.literal_suffix = Some("'".into());
    varchar.case_sensitive = true;
    b.append(varchar);
    b.append(t("BINARY", XdbcDataType::XdbcBinary, None, None));
    let mut date = t("DATE", XdbcDataType::XdbcDate, Some(10), None);
    date.literal_prefix = Some("DATE '".into());
    date.literal_suffix = Some("'".into());
    date.sql_data_type = XdbcDataType::XdbcDatetime;
    // SQL_CODE_DATE is 1, which the proto names XDBC_SUBCODE_YEAR (an alias).
    date.datetime_subcode = Some(XdbcDatetimeSubcode::XdbcSubcodeYear);
    b.append(date);
    let mut ts = t("TIMESTAMP", XdbcDataType::XdbcTimestamp, Some(35), None);
    ts.literal_prefix = Some("TIMESTAMP '".into());
    ts.literal_suffix = Some("'".into());
    ts.sql_data_type = XdbcDataType::XdbcDatetime;
    ts.datetime_subcode = Some(XdbcDatetimeSubcode::XdbcSubcodeTimestampWithTimezone);
    b.append(ts);
    b.append(t("INTERVAL", XdbcDataType::XdbcInterval, None, None));
    b.build().expect("the type table builds")
});

use estafette_storage::StorageError;
use ruma::api::client::uiaa::UiaaInfo;

/// Why a service refused or failed. The HTTP layer maps each variant to one Matrix error.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    InvalidParam(String),
    #[error("{0}")]
    MissingParam(String),
    #[error("{0}")]
    BadJson(String),
    #[error("{0}")]
    Unknown(String),
    /// The server maintains this data itself; clients cannot write it.
    #[error("{0}")]
    ServerManaged(String),
    #[error("{0}")]
    InvalidUsername(String),
    #[error("the user ID is already taken")]
    UserInUse,
    #[error("{0}")]
    WeakPassword(String),
    #[error("this account has been deactivated")]
    UserDeactivated,
    #[error("{0}")]
    GuestAccessForbidden(String),
    /// The access or refresh token is unknown, revoked or expired.
    #[error("{message}")]
    UnknownToken { soft_logout: bool, message: String },
    /// User-interactive authentication must continue (401 with the session's state).
    #[error("additional authentication is required")]
    AuthenticationRequired(Box<UiaaInfo>),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    UnsupportedRoomVersion(String),
    /// Another server cannot join a room of this version (400 M_INCOMPATIBLE_ROOM_VERSION).
    #[error("This server does not support room version {0}")]
    IncompatibleRoomVersion(ruma::RoomVersionId),
    /// The thing to create exists already (409).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadAlias(String),
    #[error("{0}")]
    InvalidSignature(String),
    /// The request's credentials (a server signature) are missing or wrong (401).
    #[error("{0}")]
    Unauthorized(String),
    /// The request needs a user's access token and has none (401).
    #[error("{0}")]
    MissingToken(String),
    /// Another server could not be reached or answered badly (502).
    #[error("{0}")]
    Unavailable(String),
    /// A queue or quota is full; the client may retry later.
    #[error("{0}")]
    LimitExceeded(String),
    /// Keys go to the current backup version, named here.
    #[error("The current backup version is {0}")]
    WrongRoomKeysVersion(String),
    #[error("{0}")]
    RoomInUse(String),
    /// A sliding sync position this server does not know (any more): the client starts over.
    #[error("{0}")]
    UnknownPos(String),
    /// A profile field would make the profile larger than 64 KiB (spec v1.16).
    #[error("{0}")]
    ProfileTooLarge(String),
    /// A profile field name longer than 255 bytes (spec v1.16).
    #[error("{0}")]
    KeyTooLarge(String),
    /// An automatic thread subscription names an event outside the thread (MSC4306).
    #[error("{0}")]
    NotInThread(String),
    /// An automatic thread subscription the user's later unsubscription overrides (MSC4306).
    #[error("{0}")]
    ConflictingUnsubscription(String),
    /// An encrypted attachment does not match its description (hash, key or version).
    #[error("{0}")]
    DecryptionFailed(String),
    /// A request body encrypted to this server could not be decrypted (its key may have
    /// changed: the client fetches it again and retries).
    #[error("{0}")]
    BadRequestEncryption(String),
    /// The media ID has its content already (409 M_CANNOT_OVERWRITE_MEDIA).
    #[error("{0}")]
    CannotOverwriteMedia(String),
    /// The media was created but its content has not come yet (504 M_NOT_YET_UPLOADED).
    #[error("{0}")]
    NotYetUploaded(String),
    /// The antivirus found the file infected; it is neither accepted nor served (403).
    #[error("{0}")]
    MediaNotClean(String),
    /// The address is already bound to an account (400 M_THREEPID_IN_USE).
    #[error("{0}")]
    ThreepidInUse(String),
    /// The account has expired and must be renewed (403 ORG_MATRIX_EXPIRED_ACCOUNT).
    #[error("{0}")]
    AccountExpired(String),
    /// A lookup hashed with another pepper than the server's (400 M_INVALID_PEPPER).
    #[error("{0}")]
    InvalidPepper(String),
    /// No account of this server has the address (400 M_THREEPID_NOT_FOUND).
    #[error("{0}")]
    ThreepidNotFound(String),
    /// The server's policy refuses the address (403 M_THREEPID_DENIED).
    #[error("{0}")]
    ThreepidDenied(String),
    /// The content scanner's policy refuses the file's type (403).
    #[error("{0}")]
    MimeTypeForbidden(String),
    /// The antivirus cannot answer and files are not let through unscanned (503, retryable).
    #[error("{message}")]
    ScannerUnavailable {
        message: String,
        retry_after_secs: u64,
    },
    /// The identifier or alias is in an application service's exclusive namespace
    /// (400 M_EXCLUSIVE).
    #[error("{0}")]
    Exclusive(String),
    /// An application service masquerades as a device its user does not have
    /// (400 M_UNKNOWN_DEVICE).
    #[error("{0}")]
    UnknownDevice(String),
    /// The application service manages its devices itself and may not log in (MSC4190).
    #[error("{0}")]
    AppserviceLoginUnsupported(String),
    /// The application service has no URL to reach it at (400 M_URL_NOT_SET).
    #[error("{0}")]
    UrlNotSet(String),
    /// The application service answered a ping with an error (502 M_BAD_STATUS).
    #[error("the application service answered {status}")]
    BadStatus { status: u16, body: String },
    /// The application service did not answer in time (504 M_CONNECTION_TIMEOUT).
    #[error("{0}")]
    ConnectionTimeout(String),
    /// The application service could not be reached (502 M_CONNECTION_FAILED).
    #[error("{0}")]
    ConnectionFailed(String),
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Storage(StorageError),
}

pub type ServiceResult<T> = Result<T, ServiceError>;

impl ServiceError {
    /// Whether another server said no or could not be reached, what the user asked it for is
    /// not found; other errors are kept.
    pub(crate) fn unavailable_as_not_found(self, what: impl std::fmt::Display) -> Self {
        match self {
            Self::Unavailable(reason) => {
                Self::NotFound(format!("{what} is not available ({reason})"))
            }
            other => other,
        }
    }
}

impl From<StorageError> for ServiceError {
    fn from(err: StorageError) -> Self {
        match err {
            StorageError::Unrepresentable => Self::InvalidParam(err.to_string()),
            err => Self::Storage(err),
        }
    }
}
